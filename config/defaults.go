package config

// setting is one row of the defaults table: its default value and its kind.
type setting struct {
	def  string
	kind Kind
}

// table lists every setting the toolkit reads, with its default (protocol.md 8.3; kinto.core
// additions where the toolkit implements them). docs/configuration.md documents each one.
var table = map[string]setting{
	"project_name":                        {"", KindString},
	"project_version":                     {"", KindString},
	"project_docs":                        {"", KindString},
	"http_api_version":                    {"", KindString},
	"http_scheme":                         {"", KindString},
	"http_host":                           {"", KindString},
	"error_info_link":                     {"https://github.com/cliquet-go/cliquet/issues/", KindString},
	"version_json_path":                   {"version.json", KindString},
	"version_prefix_redirect_enabled":     {"true", KindBool},
	"version_prefix_redirect_ttl_seconds": {"-1", KindInt},
	"trailing_slash_redirect_enabled":     {"true", KindBool},
	"trailing_slash_redirect_ttl_seconds": {"3600", KindInt},
	"heartbeat_timeout_seconds":           {"10", KindSeconds},
	"readonly":                            {"false", KindBool},
	"batch_max_requests":                  {"25", KindOptInt},
	"backoff":                             {"", KindOptInt},
	"backoff_percentage":                  {"", KindOptInt},
	"retry_after_seconds":                 {"30", KindInt},
	"eos":                                 {"", KindTimestamp},
	"eos_message":                         {"", KindString},
	"eos_url":                             {"", KindString},
	"cors_origins":                        {"*", KindList},
	"cors_max_age_seconds":                {"3600", KindOptInt},
	"vary":                                {"Authorization", KindList},
	"root_cache_expires_seconds":          {"86400", KindInt},
	"paginate_by":                         {"", KindOptInt},
	"storage_max_fetch_size":              {"10000", KindInt},
	"pagination_token_validity_seconds":   {"600", KindInt},
	"max_request_body_bytes":              {"8388608", KindInt},
	"max_principals_per_permission":       {"1000", KindInt},
	"storage_backend":                     {"memory", KindString},
	"storage_url":                         {"", KindString},
	"storage_pool_size":                   {"25", KindInt},
	"storage_pool_timeout":                {"30", KindSeconds},
	"storage_statement_timeout":           {"30", KindSeconds},
	"storage_write_workers":               {"0", KindInt},
	"storage_notify":                      {"true", KindBool},
	"storage_prefix":                      {"storage:", KindString},
	"tombstones_retention_seconds":        {"", KindSeconds},
	"tombstones_purge_interval_seconds":   {"0", KindSeconds},
	"cache_backend":                       {"memory", KindString},
	"cache_url":                           {"", KindString},
	"cache_pool_size":                     {"25", KindInt},
	"cache_pool_timeout":                  {"30", KindSeconds},
	"cache_prefix":                        {"", KindString},
	"cache_max_size_bytes":                {"524288", KindInt},
	"permission_backend":                  {"memory", KindString},
	"permission_url":                      {"", KindString},
	"permission_pool_size":                {"25", KindInt},
	"permission_pool_timeout":             {"30", KindSeconds},
	"permission_groups_cache_size":        {"10000", KindInt},
	"permission_prefix":                   {"permission:", KindString},
	"id_generator":                        {"uuid4", KindString},
	"userid_hmac_secret":                  {"", KindString},
	"multiauth.policies":                  {"basicauth", KindList},
	"explicit_permissions":                {"true", KindBool},
	"transaction_per_request":             {"true", KindBool},
	"event_listeners":                     {"", KindList},
	"event_listeners.redis.url":           {"", KindString},
	"event_listeners.redis.pool_size":     {"25", KindInt},
	"event_listeners.redis.listname":      {"cliquet.events", KindString},
	"change_feed_enabled":                 {"true", KindBool},
	"change_feed_keepalive_seconds":       {"15", KindSeconds},
	"change_feed_max_streams":             {"10000", KindInt},
	"change_feed_max_streams_per_user":    {"20", KindInt},
	"change_feed_buffer_size":             {"1000", KindInt},
	"logging_renderer":                    {"json", KindString},
	"logging_level":                       {"info", KindString},
	"statsd_url":                          {"", KindString},
	"statsd_prefix":                       {"cliquet", KindString},
	"prometheus_enabled":                  {"false", KindBool},
	"prometheus_prefix":                   {"cliquet", KindString},
	"prometheus_created_metrics_enabled":  {"true", KindBool},
	"prometheus_histogram_buckets":        {"0.01 0.05 0.1 0.5 1 3 6", KindString},
	"sentry_dsn":                          {"", KindString},
	"sentry_env":                          {"", KindString},
	"profiler_enabled":                    {"false", KindBool},
	"profiler_path":                       {"/__profiler__", KindString},
}

// knownKinds is derived from table once; it is read-only.
var knownKinds = func() map[string]Kind {
	m := make(map[string]Kind, len(table))
	for k, s := range table {
		m[k] = s.kind
	}
	return m
}()

// Defaults returns a fresh copy of the toolkit's default settings.
func Defaults() map[string]string {
	m := make(map[string]string, len(table))
	for k, s := range table {
		m[k] = s.def
	}
	return m
}
