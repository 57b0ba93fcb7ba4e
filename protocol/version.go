package protocol

// Version is the version of the HTTP protocol spoken by services built with this toolkit,
// "MAJOR.MINOR". It is independent of the toolkit's module version and of a project's
// project_version / http_api_version: the hello view shows it as "protocol_version" so that
// a client can tell what to expect from any service, whatever the service's own version.
// docs/protocol-changelog.md lists what each version covers.
//
// Compatibility rules:
//
//   - MINOR is bumped for additions that a client written against an earlier minor version
//     can ignore: a new endpoint, a new optional querystring parameter or filter operator, a
//     new response header, a new field in a response body, a new errno for a condition
//     that used to be answered 500 errno 999.
//   - MAJOR is bumped (and MINOR reset to 0) for anything that can break such a client:
//     removing or renaming an endpoint, a field, a header or a parameter; a new required
//     request field; a different status code or errno for an existing condition; a change
//     in the meaning or format of a value (timestamps, ETags, pagination tokens' behaviour,
//     the default sort order).
//   - Fixes that bring the code in line with what the changelog already documents bump
//     nothing; changes that only touch the Go API (package signatures) bump nothing here
//     either: they follow the module's semantic version.
const Version = "1.0"
