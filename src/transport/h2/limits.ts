/**
 * The limits an HTTP/2 session holds a peer to. Every byte a server sends is untrusted: these
 * bound the memory and the CPU one connection can cost, whatever arrives. Each value names
 * the implementation it follows (nghttp2, under node:http2 and grpc-js; grpc-go).
 */

/**
 * SETTINGS_MAX_HEADER_LIST_SIZE we announce, and the most a decoded header block may hold
 * (RFC 7541 §4.1 sizes: name + value + 32 per field). node:http2's default is 64 KiB too;
 * etcd's headers and trailers are a few hundred bytes.
 */
export const MAX_HEADER_LIST_SIZE = 64 * 1024;

/**
 * The most encoded bytes one header block may take (HEADERS and its CONTINUATIONs). An
 * encoded block is never larger than what it decodes to by more than the Huffman gain,
 * so the same bound as the decoded list is generous.
 */
export const MAX_HEADER_BLOCK_BYTES = MAX_HEADER_LIST_SIZE;

/**
 * CONTINUATION frames one header block may use: nghttp2's default since the CONTINUATION
 * flood advisories (CVE-2024-27316 and its kin) is 8.
 */
export const MAX_CONTINUATIONS = 8;

/**
 * Control replies (PING and SETTINGS acknowledgements, stream resets) allowed to wait in
 * our outgoing buffer while the socket is backed up; beyond this the peer floods us
 * without reading, as nghttp2 judges it (its default outbound ack limit is 1,000).
 */
export const MAX_PENDING_CONTROL_REPLIES = 1000;

/**
 * Frames that carry nothing for any call (empty DATA, unknown types, PRIORITY,
 * acknowledgements of pings we never sent) allowed within one second. node:http2 ends a
 * session after 1,000 invalid frames; a real etcd sends none of these. (PINGs and SETTINGS
 * are not counted: grpc-go pings per burst of data; their replies are bounded instead by
 * MAX_PENDING_CONTROL_REPLIES.)
 */
export const MAX_IDLE_FRAMES_PER_SECOND = 1000;
