// Package cliquet is an embeddable toolkit for JSON REST services that speak the protocol of
// Mozilla Cliquet / kinto.core: versioned URLs, JSON errors with errnos, hello and heartbeat
// views, end-of-service and backoff signals, CORS, authentication policies and pluggable
// storage, cache and permission backends. It is plain net/http middleware on a chi router.
//
// # Overview
//
// A service is built in four steps:
//
//  1. Load the settings with package config (an .ini file written for Cliquet or Kinto
//     loads as it is, and CLIQUET_* / <PROJECT>_* environment variables override it), or
//     pass nil to use the defaults and the environment.
//  2. Call [Initialize] with a fresh chi router. It checks the settings, opens the backends
//     named by storage_backend, cache_backend and permission_backend (memory by default),
//     installs the middleware and mounts the utility views under the version prefix "/v1".
//  3. Mount resources and custom views on [App.Router] (package resource does the Cliquet
//     resource protocol); custom views reach the backends with [StorageFrom] and the
//     caller with [authn.IdentityFrom], and report failures with protocol.WriteError.
//  4. Serve [App.Handler] with net/http, and run [Migrate] from a separate command to
//     create or upgrade the database schemas.
//
// # Packages
//
// The root holds the application: [App], [Config], [Initialize], the utility views, the
// batch endpoint, the unit of work ([Transaction]) and the commands ([Migrate],
// [PurgeTombstones]). The rest lives in small packages it wires together:
//
//   - resource: the Cliquet resource protocol (CRUD views, filters, pagination, sync,
//     permissions, nested resources);
//   - authn: authentication policies and the request's identity;
//   - events: resource events and their listeners (events/redislistener for Redis);
//   - middleware: the protocol middleware that needs no App (Recover, CORS, Backoff, ...);
//   - openapi: the OpenAPI document;
//   - storage, cache, permission: the backend contracts and their implementations;
//   - protocol, config, monitoring: errors and headers, settings, logs and metrics.
//
// Every middleware is a plain func(http.Handler) http.Handler that also works without chi.
// Initialize installs, outermost first: the request logger and metrics, recovery
// ([middleware.Recover], [middleware.RetryAfter]), [middleware.SecurityHeaders],
// [middleware.Vary], [middleware.CORS], [middleware.Backoff], [middleware.Deprecation],
// [middleware.ReadOnly], [middleware.MaxBodySize], [middleware.DefaultCacheControl],
// authentication, the event collection and [Transaction], configured from the settings.
//
// # Authentication
//
// Policies implement [authn.Authenticator] and are tried in the order of
// multiauth.policies; the first that recognises the request wins and the user id is
// prefixed with the policy name ("basicauth:2f7a…"). The built-in [authn.BasicAuth] needs
// userid_hmac_secret. A request with invalid credentials is anonymous; views that need a
// user answer [authn.ErrUnauthorized].
//
// # Redirects and errors
//
// Unknown URLs are handled at request time (so routes added later are covered): a path
// without the version prefix is redirected (307) to it, an unknown path with a trailing
// slash is redirected without it, another version is 404 errno 116 and anything else is
// 404 errno 111. A known path with a wrong method is 405 errno 115 with an Allow header.
package cliquet
