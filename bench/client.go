package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The load generator's HTTP/1.1 client. net/http's client costs 30–60 µs of CPU per request,
// about what the bare server spends serving it, and the harness shares the machine's cores
// with the server and the database it measures. This client does only what the scenarios
// need: persistent connections, requests written from pre-built bytes, and responses parsed
// for the status, the few headers the scenarios read, and the body (Content-Length, chunked,
// or until the server closes).

const (
	// maxBody bounds a response body kept in memory.
	maxBody = 64 << 20
	// readBufSize is the read buffer of a connection; a header line must fit in it.
	readBufSize = 32 << 10
)

// errMalformed marks a response the client could not parse.
var errMalformed = errors.New("malformed HTTP response")

// client sends requests to one server over keep-alive connections. Each request takes an
// idle connection (or dials one) and gives it back afterwards, so n workers sending
// concurrently use at most n connections, each persistent. A client is safe for concurrent use.
type client struct {
	ctx     context.Context
	addr    string // host:port dialled and Host header
	timeout time.Duration
	stop    func() bool // unregisters abort from ctx

	mu      sync.Mutex
	idle    []*conn
	open    map[*conn]struct{} // idle and in use
	aborted atomic.Bool
	dials   atomic.Int64 // connections opened so far
}

// newClient returns a client of the server at base ("http://host:port"). Every request must
// complete within timeout (dial, write and response), otherwise it fails. When ctx ends,
// requests in flight fail at once, and so do later ones.
func newClient(ctx context.Context, base string, timeout time.Duration) *client {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		panic(fmt.Sprintf("bench: bad server base URL %q", base)) // built by the harness
	}
	c := &client{ctx: ctx, addr: u.Host, timeout: timeout, open: map[*conn]struct{}{}}
	c.stop = context.AfterFunc(ctx, c.abort)
	return c
}

// abort makes every request in flight fail (its deadline passes) and every later one too.
func (c *client) abort() {
	c.aborted.Store(true)
	c.mu.Lock()
	defer c.mu.Unlock()
	for cn := range c.open {
		cn.nc.SetDeadline(time.Unix(1, 0)) //nolint:errcheck // the connection may be closed already
	}
}

// abortErr is the error of a request of an aborted client.
func (c *client) abortErr() error {
	return fmt.Errorf("request aborted: %w", context.Cause(c.ctx))
}

// close closes the idle connections and detaches the client from its context.
func (c *client) close() {
	c.stop()
	c.mu.Lock()
	idle := c.idle
	c.idle = nil
	for _, cn := range idle {
		delete(c.open, cn)
	}
	c.mu.Unlock()
	for _, cn := range idle {
		cn.nc.Close()
	}
}

// get returns an idle connection (reused true) or a new one.
func (c *client) get() (*conn, bool, error) {
	if c.aborted.Load() {
		return nil, false, c.abortErr()
	}
	c.mu.Lock()
	if n := len(c.idle); n > 0 {
		cn := c.idle[n-1]
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		return cn, true, nil
	}
	c.mu.Unlock()
	nc, err := net.DialTimeout("tcp", c.addr, c.timeout)
	if err != nil {
		return nil, false, err
	}
	c.dials.Add(1)
	cn := &conn{nc: nc, r: bufio.NewReaderSize(nc, readBufSize), w: bufio.NewWriterSize(nc, 4<<10)}
	c.mu.Lock()
	c.open[cn] = struct{}{}
	c.mu.Unlock()
	return cn, false, nil
}

// put gives back a connection that can carry another request.
func (c *client) put(cn *conn) {
	c.mu.Lock()
	c.idle = append(c.idle, cn)
	c.mu.Unlock()
}

// discard closes a connection that cannot be reused.
func (c *client) discard(cn *conn) {
	c.mu.Lock()
	delete(c.open, cn)
	c.mu.Unlock()
	cn.nc.Close()
}

// conn is one persistent connection.
type conn struct {
	nc net.Conn
	r  *bufio.Reader
	w  *bufio.Writer
}

// respHeader holds the response headers the scenarios read.
type respHeader struct {
	etag, nextPage, totalRecords, totalObjects string
}

// call is a reusable request: its head (request line, Host, Authorization, Content-Type and
// extra headers) is built once and rebuilt only when a header changes. A call is used by one
// goroutine at a time.
type call struct {
	c       *client
	method  string
	path    string // request target: path and query
	auth    string // Authorization value
	body    []byte // nil: no body
	headers [][2]string
	head    []byte // built from the fields above; nil when stale
	buf     []byte // the last body read
}

// newCall prepares a request of c with the Basic credentials of user (password "secret").
// path is the request target ("/v1/bookmarks?_limit=20").
func newCall(c *client, method, path, user string, body []byte) *call {
	return &call{c: c, method: method, path: path, auth: basicAuth(user), body: body}
}

// setAuth changes the Authorization header.
func (k *call) setAuth(v string) {
	if k.auth != v {
		k.auth, k.head = v, nil
	}
}

// setHeader sets an extra request header.
func (k *call) setHeader(name, value string) {
	k.head = nil
	for i := range k.headers {
		if k.headers[i][0] == name {
			k.headers[i][1] = value
			return
		}
	}
	k.headers = append(k.headers, [2]string{name, value})
}

func (k *call) buildHead() []byte {
	b := k.head[:0]
	b = append(b, k.method...)
	b = append(b, ' ')
	b = append(b, k.path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, k.c.addr...)
	b = append(b, "\r\nAuthorization: "...)
	b = append(b, k.auth...)
	b = append(b, "\r\n"...)
	if k.body != nil {
		b = append(b, "Content-Type: application/json\r\n"...)
	}
	for _, h := range k.headers {
		b = append(b, h[0]...)
		b = append(b, ": "...)
		b = append(b, h[1]...)
		b = append(b, "\r\n"...)
	}
	return b
}

// do sends the request and fails unless the status is want. With keep, the body is returned;
// it is valid until the next do of the same call. A request that finds its reused connection
// closed by the server (before any byte of a response) is sent again on a new connection.
func (k *call) do(want int, keep bool) (respHeader, []byte, error) {
	if k.head == nil {
		k.head = k.buildHead()
	}
	for {
		cn, reused, err := k.c.get()
		if err != nil {
			return respHeader{}, nil, err
		}
		res, err := k.roundTrip(cn, want, keep)
		if err != nil {
			k.c.discard(cn)
			if k.c.aborted.Load() {
				return respHeader{}, nil, fmt.Errorf("%s %s: %w", k.method, k.path, k.c.abortErr())
			}
			if reused && res.retry {
				continue // the server closed the idle connection: a fresh one is dialled
			}
			return respHeader{}, nil, fmt.Errorf("%s %s: %w", k.method, k.path, err)
		}
		if res.close {
			k.c.discard(cn)
		} else {
			k.c.put(cn)
		}
		if res.status != want {
			b := k.buf
			if len(b) > 200 {
				b = b[:200]
			}
			return res.h, nil, fmt.Errorf("%s %s: status %d, want %d: %s", k.method, k.path, res.status, want, b)
		}
		if !keep {
			return res.h, nil, nil
		}
		return res.h, k.buf, nil
	}
}

// response is what roundTrip read.
type response struct {
	status int
	h      respHeader
	close  bool // the connection cannot be reused
	retry  bool // with an error: nothing of a response was read, the request may be resent
}

// roundTrip writes the request on cn and reads the response. The body goes to k.buf when
// keep is set or the status is not want, and is discarded otherwise.
func (k *call) roundTrip(cn *conn, want int, keep bool) (response, error) {
	var res response
	if err := cn.nc.SetDeadline(time.Now().Add(k.c.timeout)); err != nil {
		return res, err
	}
	if k.c.aborted.Load() { // checked after SetDeadline: an abort from now on overrides it
		return res, k.c.abortErr()
	}
	// bufio.Writer keeps its first error and returns it from Flush.
	w := cn.w
	w.Write(k.head)
	if k.body != nil {
		var num [20]byte
		w.WriteString("Content-Length: ")
		w.Write(strconv.AppendInt(num[:0], int64(len(k.body)), 10))
		w.WriteString("\r\n\r\n")
		w.Write(k.body)
	} else {
		w.WriteString("\r\n")
	}
	if err := w.Flush(); err != nil {
		res.retry = closedByPeer(err)
		return res, err
	}
	k.buf = k.buf[:0]
	for {
		line, err := cn.r.ReadSlice('\n')
		if err != nil {
			res.retry = len(line) == 0 && closedByPeer(err)
			if errors.Is(err, bufio.ErrBufferFull) {
				err = fmt.Errorf("%w: status line too long", errMalformed)
			}
			return res, err
		}
		if err := parseStatus(line, &res); err != nil {
			return res, err
		}
		length, chunked, err := readHeaders(cn.r, &res)
		if err != nil {
			return res, err
		}
		if res.status >= 100 && res.status < 200 {
			if res.status == 101 {
				return res, fmt.Errorf("%w: unexpected 101 Switching Protocols", errMalformed)
			}
			continue // an informational response precedes the real one
		}
		if k.method == "HEAD" || res.status == 204 || res.status == 304 {
			return res, nil
		}
		save := keep || res.status != want
		switch {
		case chunked:
			err = readChunked(cn.r, save, &k.buf)
		case length >= 0:
			err = readN(cn.r, length, save, &k.buf)
		default:
			// No length: the body runs until the server closes the connection.
			res.close = true
			err = readToEOF(cn.r, save, &k.buf)
		}
		return res, err
	}
}

// closedByPeer reports whether err means that the server closed the connection.
func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// parseStatus parses "HTTP/1.1 200 OK\r\n".
func parseStatus(line []byte, res *response) error {
	if len(line) < 14 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' ||
		(len(line) > 12 && line[12] != ' ' && line[12] != '\r' && line[12] != '\n') {
		return fmt.Errorf("%w: status line %q", errMalformed, trimLine(line))
	}
	code := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return fmt.Errorf("%w: status line %q", errMalformed, trimLine(line))
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 {
		return fmt.Errorf("%w: status line %q", errMalformed, trimLine(line))
	}
	res.status = code
	res.h = respHeader{}
	res.close = line[7] == '0' // HTTP/1.0: no keep-alive unless asked, and we never ask
	return nil
}

func trimLine(b []byte) []byte {
	return bytes.TrimRight(b, "\r\n")
}

// readHeaders reads the header lines up to the blank line. length is -1 when there is no
// Content-Length.
func readHeaders(r *bufio.Reader, res *response) (length int64, chunked bool, err error) {
	length = -1
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				err = fmt.Errorf("%w: header line too long", errMalformed)
			} else if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, false, err
		}
		line = trimLine(line)
		if len(line) == 0 {
			return length, chunked, nil
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return 0, false, fmt.Errorf("%w: header line %q", errMalformed, line)
		}
		name, value := line[:colon], bytes.TrimSpace(line[colon+1:])
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, ok := parseDecimal(value)
			if !ok {
				return 0, false, fmt.Errorf("%w: Content-Length %q", errMalformed, value)
			}
			length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			if !bytes.EqualFold(value, []byte("chunked")) {
				return 0, false, fmt.Errorf("%w: unsupported Transfer-Encoding %q", errMalformed, value)
			}
			chunked = true
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(value, []byte("close")) {
				res.close = true
			}
		case bytes.EqualFold(name, []byte("ETag")):
			res.h.etag = string(value)
		case bytes.EqualFold(name, []byte("Next-Page")):
			res.h.nextPage = string(value)
		case bytes.EqualFold(name, []byte("Total-Records")):
			res.h.totalRecords = string(value)
		case bytes.EqualFold(name, []byte("Total-Objects")):
			res.h.totalObjects = string(value)
		}
	}
}

// parseDecimal parses a non-negative decimal of at most 18 digits.
func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// readN reads a body of n bytes, into *buf when save is set.
func readN(r *bufio.Reader, n int64, save bool, buf *[]byte) error {
	if !save {
		if _, err := r.Discard(int(n)); err != nil {
			return unexpected(err)
		}
		return nil
	}
	if int64(len(*buf))+n > maxBody {
		return fmt.Errorf("response body larger than %d bytes", maxBody)
	}
	start := len(*buf)
	b := slices.Grow(*buf, int(n))[:start+int(n)]
	*buf = b
	if _, err := io.ReadFull(r, b[start:]); err != nil {
		return unexpected(err)
	}
	return nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readChunked reads a chunked body and its trailer.
func readChunked(r *bufio.Reader, save bool, buf *[]byte) error {
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return fmt.Errorf("%w: chunk size line too long", errMalformed)
			}
			return unexpected(err)
		}
		size := trimLine(line)
		if i := bytes.IndexByte(size, ';'); i >= 0 {
			size = size[:i] // chunk extensions are ignored
		}
		size = bytes.TrimSpace(size)
		n, ok := parseHex(size)
		if !ok {
			return fmt.Errorf("%w: chunk size %q", errMalformed, size)
		}
		if n == 0 {
			break
		}
		if err := readN(r, n, save, buf); err != nil {
			return err
		}
		if err := readCRLF(r); err != nil {
			return err
		}
	}
	for { // trailer, up to the blank line
		line, err := r.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return fmt.Errorf("%w: trailer line too long", errMalformed)
			}
			return unexpected(err)
		}
		if len(trimLine(line)) == 0 {
			return nil
		}
	}
}

func readCRLF(r *bufio.Reader) error {
	b, err := r.Peek(2)
	if err != nil {
		return unexpected(err)
	}
	if b[0] != '\r' || b[1] != '\n' {
		return fmt.Errorf("%w: chunk not followed by CRLF", errMalformed)
	}
	_, err = r.Discard(2)
	return err
}

// parseHex parses a chunk size of at most 15 hex digits.
func parseHex(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			n = n<<4 | int64(c-'0')
		case c >= 'a' && c <= 'f':
			n = n<<4 | int64(c-'a'+10)
		case c >= 'A' && c <= 'F':
			n = n<<4 | int64(c-'A'+10)
		default:
			return 0, false
		}
	}
	return n, true
}

// readToEOF reads a body delimited by the end of the connection.
func readToEOF(r *bufio.Reader, save bool, buf *[]byte) error {
	if !save {
		_, err := io.Copy(io.Discard, r)
		return err
	}
	b := bytes.NewBuffer(*buf)
	_, err := b.ReadFrom(io.LimitReader(r, maxBody+1))
	*buf = b.Bytes()
	if err == nil && len(*buf) > maxBody {
		return fmt.Errorf("response body larger than %d bytes", maxBody)
	}
	return err
}
