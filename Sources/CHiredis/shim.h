#ifndef CHIREDIS_SHIM_H
#define CHIREDIS_SHIM_H
// hiredis 0.14 (Debian 12) and 1.x: only the synchronous API both share is used here.
#include <hiredis/hiredis.h>
#include <sys/time.h>

/// The context's error flag (REDIS_ERR_*), 0 when there is none.
static inline int CHiredis_error(const redisContext *context) { return context->err; }

/// The context's error text; Swift imports the fixed-size array as a tuple, hence the accessor.
static inline const char *CHiredis_errorString(const redisContext *context) { return context->errstr; }

static inline struct timeval CHiredis_timeval(long long microseconds) {
    struct timeval tv;
    tv.tv_sec = (time_t)(microseconds / 1000000);
    tv.tv_usec = (suseconds_t)(microseconds % 1000000);
    return tv;
}

/// A TCP connection whose connect() gives up after `microseconds`; NULL only when out of memory.
static inline redisContext *CHiredis_connectTCP(const char *host, int port, long long microseconds) {
    return redisConnectWithTimeout(host, port, CHiredis_timeval(microseconds));
}

/// A unix-socket connection whose connect() gives up after `microseconds`.
static inline redisContext *CHiredis_connectUnix(const char *path, long long microseconds) {
    return redisConnectUnixWithTimeout(path, CHiredis_timeval(microseconds));
}

/// Bounds every later read and write on `context` by `microseconds`; REDIS_OK on success.
static inline int CHiredis_setTimeout(redisContext *context, long long microseconds) {
    return redisSetTimeout(context, CHiredis_timeval(microseconds));
}
#endif
