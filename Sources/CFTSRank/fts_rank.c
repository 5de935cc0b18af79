#include "cftsrank.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// BM25 as FTS5's built-in bm25() computes it (its documentation gives the formula), so keyword
// rankings do not change when the faster function replaces it.
static const double k1 = 1.2;
static const double b = 0.75;
// Rows beyond this rowid are not cached: it bounds the cache at 64 MiB whatever the rowids are.
static const int64_t max_cached_rowid = (int64_t)1 << 24;

/// Per connection: the token count of each row read so far, + 1 (0: not read yet), by rowid.
typedef struct {
    uint32_t *lengths;
    int64_t capacity;
    /// The text version the lengths were read at; another value drops them all.
    sqlite3_int64 text_version;
} LengthCache;

/// Per query (FTS5 auxiliary data): the IDF of each phrase and the mean row length.
typedef struct {
    int phrase_count;
    double mean_length;
    double *idf;
    double *frequency;
} QueryStatistics;

static void free_statistics(void *pointer) {
    QueryStatistics *statistics = pointer;
    free(statistics->idf);
    free(statistics);
}

static void free_cache(void *pointer) {
    LengthCache *cache = pointer;
    free(cache->lengths);
    free(cache);
}

static int count_row(const Fts5ExtensionApi *api, Fts5Context *fts, void *counter) {
    (void)api;
    (void)fts;
    (*(sqlite3_int64 *)counter)++;
    return SQLITE_OK;
}

/// The statistics of the current query, computed on its first row.
static int query_statistics(const Fts5ExtensionApi *api, Fts5Context *fts, QueryStatistics **result) {
    QueryStatistics *statistics = api->xGetAuxdata(fts, 0);
    if (statistics) {
        *result = statistics;
        return SQLITE_OK;
    }
    int phrases = api->xPhraseCount(fts);
    statistics = calloc(1, sizeof *statistics);
    double *buffers = calloc((size_t)(phrases > 0 ? phrases : 1) * 2, sizeof(double));
    if (!statistics || !buffers) {
        free(statistics);
        free(buffers);
        return SQLITE_NOMEM;
    }
    statistics->phrase_count = phrases;
    statistics->idf = buffers;
    statistics->frequency = buffers + phrases;

    sqlite3_int64 rows = 0, tokens = 0;
    int rc = api->xRowCount(fts, &rows);
    if (rc == SQLITE_OK) rc = api->xColumnTotalSize(fts, -1, &tokens);
    if (rc == SQLITE_OK) statistics->mean_length = rows > 0 ? (double)tokens / (double)rows : 0;
    for (int phrase = 0; rc == SQLITE_OK && phrase < phrases; phrase++) {
        sqlite3_int64 hits = 0;
        rc = api->xQueryPhrase(fts, phrase, &hits, count_row);
        // As bm25(): a term in more than half the rows would get a negative IDF; it gets a tiny
        // positive one instead, so matching it never lowers a score.
        double idf = log((0.5 + (double)rows - (double)hits) / (0.5 + (double)hits));
        statistics->idf[phrase] = idf <= 0.0 ? 1e-6 : idf;
    }
    if (rc == SQLITE_OK) rc = api->xSetAuxdata(fts, statistics, free_statistics);
    else free_statistics(statistics);
    if (rc == SQLITE_OK) *result = statistics;
    return rc;
}

/// The current row's length in tokens (all columns), from the cache when it has it.
static int row_length(const Fts5ExtensionApi *api, Fts5Context *fts, LengthCache *cache, int *length) {
    sqlite3_int64 rowid = api->xRowid(fts);
    int cacheable = rowid >= 0 && rowid < max_cached_rowid;
    if (cacheable && rowid < cache->capacity && cache->lengths[rowid] != 0) {
        *length = (int)(cache->lengths[rowid] - 1);
        return SQLITE_OK;
    }
    int rc = api->xColumnSize(fts, -1, length);
    if (rc != SQLITE_OK || !cacheable) return rc;
    if (rowid >= cache->capacity) {
        int64_t capacity = cache->capacity ? cache->capacity : 1024;
        while (capacity <= rowid) capacity *= 2;
        uint32_t *grown = realloc(cache->lengths, (size_t)capacity * sizeof(uint32_t));
        // Out of memory only costs the cache, not the answer.
        if (!grown) return SQLITE_OK;
        memset(grown + cache->capacity, 0, (size_t)(capacity - cache->capacity) * sizeof(uint32_t));
        cache->lengths = grown;
        cache->capacity = capacity;
    }
    cache->lengths[rowid] = (uint32_t)*length + 1;
    return SQLITE_OK;
}

/// Drops the cached lengths if the text changed since they were read.
static void revalidate(LengthCache *cache, sqlite3_int64 text_version) {
    if (text_version != cache->text_version && cache->capacity > 0) {
        memset(cache->lengths, 0, (size_t)cache->capacity * sizeof(uint32_t));
    }
    cache->text_version = text_version;
}

static void rag_bm25(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_context *context,
                     int argument_count, sqlite3_value **arguments) {
    if (argument_count < 1) {
        sqlite3_result_error(context, "rag_bm25 needs the text version after the table", -1);
        return;
    }
    LengthCache *cache = api->xUserData(fts);
    int first_row = api->xGetAuxdata(fts, 0) == NULL;
    QueryStatistics *statistics = NULL;
    int rc = query_statistics(api, fts, &statistics);
    if (rc == SQLITE_OK && first_row) revalidate(cache, sqlite3_value_int64(arguments[0]));
    // What follows the version are the column weights, as bm25() takes them.
    sqlite3_value **weights = arguments + 1;
    int weight_count = argument_count - 1;

    // Term frequency per phrase, each occurrence weighted by its column's weight.
    for (int phrase = 0; rc == SQLITE_OK && phrase < statistics->phrase_count; phrase++) {
        double frequency = 0;
        Fts5PhraseIter iterator;
        int column = 0, offset = 0;
        rc = api->xPhraseFirst(fts, phrase, &iterator, &column, &offset);
        for (; rc == SQLITE_OK && column >= 0; api->xPhraseNext(fts, &iterator, &column, &offset)) {
            frequency += column < weight_count ? sqlite3_value_double(weights[column]) : 1.0;
        }
        statistics->frequency[phrase] = frequency;
    }
    int length = 0;
    if (rc == SQLITE_OK) rc = row_length(api, fts, cache, &length);
    if (rc != SQLITE_OK) {
        sqlite3_result_error_code(context, rc);
        return;
    }
    double score = 0;
    double mean = statistics->mean_length > 0 ? statistics->mean_length : 1;
    double normaliser = k1 * (1 - b + b * (double)length / mean);
    for (int phrase = 0; phrase < statistics->phrase_count; phrase++) {
        double frequency = statistics->frequency[phrase];
        score += statistics->idf[phrase] * (frequency * (k1 + 1.0)) / (frequency + normaliser);
    }
    sqlite3_result_double(context, score);
}

int CFTSRank_register(sqlite3 *db) {
    fts5_api *api = NULL;
    sqlite3_stmt *statement = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &statement, NULL);
    if (rc != SQLITE_OK) return rc;
    sqlite3_bind_pointer(statement, 1, (void *)&api, "fts5_api_ptr", NULL);
    sqlite3_step(statement);
    rc = sqlite3_finalize(statement);
    if (rc != SQLITE_OK) return rc;
    if (!api || api->iVersion < 2) return SQLITE_ERROR;

    LengthCache *cache = calloc(1, sizeof *cache);
    if (!cache) return SQLITE_NOMEM;
    // Once registered, the cache belongs to FTS5, which calls free_cache when the connection
    // closes; a failed registration leaves it with us.
    rc = api->xCreateFunction(api, "rag_bm25", cache, rag_bm25, free_cache);
    if (rc != SQLITE_OK) free_cache(cache);
    return rc;
}
