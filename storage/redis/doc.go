// Package redis is the Redis storage backend, on go-redis/v9. Importing it registers it as
// "redis" (and the Cliquet/Kinto dotted names) for the storage_backend setting.
//
// It is meant for small collections: filtering, sorting and pagination run in process (with
// the same matcher as the memory backend), so List, Count and DeleteAll read the whole
// collection and cost O(collection size), whatever the limit. Getting one object is a single
// HGET; GetMany pipelines one HMGET per collection, in one round trip. Use the PostgreSQL
// backend for big collections.
//
// # Settings
//
//	storage_backend      = redis
//	storage_url          = redis://localhost:6379/1   (the database number is the path)
//	storage_pool_size    = 25
//	storage_pool_timeout = 30                         (seconds)
//	storage_prefix       = storage:                   (key prefix; default "storage:")
//
// # Key layout
//
// Every key starts with the prefix, then the collection in a hash tag, then a suffix:
//
//	<prefix>{<resource>:<parent>}:ts    string: the collection timestamp (epoch ms)
//	<prefix>{<resource>:<parent>}:obj   hash: id → "<last_modified>:<data JSON>"
//	<prefix>{<resource>:<parent>}:del   hash: id → tombstone timestamp
//	<prefix>{<resource>:<parent>}:hz    string: the horizon, the newest purged tombstone's timestamp
//
// In <resource> and <parent>, the bytes '%', ':', '{', '}', spaces, control bytes and DEL are
// percent-encoded (%3A for ':'), so two different scopes never share a key and the hash tag is
// exactly the collection; other bytes, UTF-8 included, are kept. For example the bookmarks of
// basicauth:alice live under storage:{bookmark:basicauth%3Aalice}:obj. The data JSON is stored
// compacted, without "id", "last_modified" and "deleted".
//
// # Timestamps and atomicity
//
// Every write is one Lua script (EVALSHA) that reads the collection clock, computes the new
// timestamp from the server's TIME (max(now, previous+1), so several web heads agree even
// with skewed clocks), and writes the object or tombstone and the clock together. Timestamps
// are therefore strictly increasing and unique within a collection, and a client polling with
// last_modified > since sees every write once. A client-forced last_modified (replication) is
// kept on Create, and on Update and Delete when it is greater than the stored object's; the
// clock then becomes max(previous+1, forced). A forced value equal to the clock is bumped by
// one. Forced values older than the clock are stored as given, as in kinto.core; they are not
// checked against other objects' timestamps.
//
// DeleteAll selects the objects in process, then deletes them in one script that skips the
// objects changed or deleted in between, giving each tombstone its own timestamp.
//
// # Counts and the horizon
//
// Count without filters is the HLEN of the objects hash, which every write script changes
// atomically: exact, and O(1). PurgeDeleted removes tombstones and raises the horizon key in
// one script; PurgeTombstones finds the collections with tombstones by SCAN of the :del keys
// and purges each. A delta (storage.ListOptions.Since) reads the horizon in the same MULTI
// as the collection, and fails with a *storage.HorizonError when it starts below it.
//
// # No transactions
//
// The backend has no units of work ([storage.Backend.Begin] answers
// [storage.ErrNotSupported]): each call is atomic on its own, but a request or a batch that
// makes several calls is not, as with Cliquet's Redis backend. A failure in the middle of a
// batch leaves the earlier writes in place.
//
// # Change notifications
//
// The backend announces its writes: every write script also publishes "<clock> <action>
// <clock key>" on the channel "<prefix>changes", in the same atomic step, and
// [Backend.Listen] subscribes to it on one pub/sub connection, subscribed again when it
// breaks. Backends share announcements when they share the prefix, that is the data.
//
// # Errors
//
// Server and network failures are *[storage.BackendError] values with Backend "redis"; a write
// refused by a read-only replica also matches [storage.ErrReadOnly]. A missing object is
// [storage.ErrNotFound].
package redis
