#include "cftsrank.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// BM25 as FTS5's built-in bm25() computes it (its documentation gives the formula), so keyword
// rankings do not change when the faster function replaces it.
static const double k1 = 1.2;
static const double b = 0.75;
// Rows beyond this rowid are not cached: it bounds a connection's row lengths at 64 MiB and
// rag_bm25_top's sums at 272 MiB whatever the rowids are (the store's rowids count up from 1, and
// a store of that many rows holds tens of GB of vectors).
static const int64_t max_cached_rowid = (int64_t)1 << 24;

/// Whether the per-connection arrays (row lengths, rag_bm25_top's sums) hold `rowid`'s entry.
static int cached_rowid(sqlite3_int64 rowid) {
    return rowid >= 0 && rowid < max_cached_rowid;
}

/// rag_bm25_top's running sums by rowid (17 bytes a row at most: a score, a flag, an entry in the
/// list of rows written), kept for the connection's lifetime: a query allocates
/// nothing once they have grown to its rows (allocated per query, a large table cost a page fault
/// for each of their pages, and hashing each row a tenth of the function's time).
typedef struct {
    /// scores[rowid] is the current query's sum for that row where written[rowid] is 1.
    double *scores;
    unsigned char *written;
    int64_t capacity;
    /// The rowids written by the current query, in the order first written: the next query
    /// clears their flags.
    sqlite3_int64 *touched;
    size_t touched_count;
    size_t touched_capacity;
} RowScores;

/// Per connection: the token count of each row read so far, + 1 (0: not read yet), by rowid;
/// and rag_bm25_top's scratch memory.
typedef struct {
    uint32_t *lengths;
    int64_t capacity;
    /// The text version the lengths were read at; another value drops them all.
    sqlite3_int64 text_version;
    RowScores sums;
    /// One phrase's matched rows (see PhraseScan), reused from query to query: it keeps the size
    /// of the most rows one phrase matched (24 bytes each).
    struct PhraseHit *hits;
    size_t hit_capacity;
} ConnectionCache;

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
    ConnectionCache *cache = pointer;
    free(cache->lengths);
    free(cache->sums.scores);
    free(cache->sums.written);
    free(cache->sums.touched);
    free(cache->hits);
    free(cache);
}

static int count_row(const Fts5ExtensionApi *api, Fts5Context *fts, void *counter) {
    (void)api;
    (void)fts;
    (*(sqlite3_int64 *)counter)++;
    return SQLITE_OK;
}

/// A phrase's IDF given the rows in all and the rows holding it, as bm25() computes it.
static double inverse_document_frequency(sqlite3_int64 rows, sqlite3_int64 hits) {
    // A term in more than half the rows would get a negative IDF; it gets a tiny positive one
    // instead, so matching it never lowers a score.
    double idf = log((0.5 + (double)rows - (double)hits) / (0.5 + (double)hits));
    return idf <= 0.0 ? 1e-6 : idf;
}

/// The current row's frequency of `phrase`: each occurrence counts its column's weight (1 for a
/// column without one).
static int phrase_frequency(const Fts5ExtensionApi *api, Fts5Context *fts, int phrase, sqlite3_value **weights,
                            int weight_count, double *frequency) {
    *frequency = 0;
    Fts5PhraseIter iterator;
    int column = 0, offset = 0;
    int rc = api->xPhraseFirst(fts, phrase, &iterator, &column, &offset);
    for (; rc == SQLITE_OK && column >= 0; api->xPhraseNext(fts, &iterator, &column, &offset)) {
        *frequency += column < weight_count ? sqlite3_value_double(weights[column]) : 1.0;
    }
    return rc;
}

/// The table's row count and mean row length in tokens (1 when there is no text, so that the
/// length normalisation stays finite).
static int table_totals(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_int64 *rows, double *mean_length) {
    sqlite3_int64 tokens = 0;
    *rows = 0;
    int rc = api->xRowCount(fts, rows);
    if (rc == SQLITE_OK) rc = api->xColumnTotalSize(fts, -1, &tokens);
    *mean_length = *rows > 0 && tokens > 0 ? (double)tokens / (double)*rows : 1;
    return rc;
}

/// BM25's length normalisation for a row of `length` tokens.
static double length_normaliser(int length, double mean_length) {
    return k1 * (1 - b + b * (double)length / mean_length);
}

/// One phrase's share of a row's BM25 score. Both functions compute scores only through this, so
/// their sums agree bit for bit.
static double term_score(double idf, double frequency, double normaliser) {
    return idf * (frequency * (k1 + 1.0)) / (frequency + normaliser);
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

    sqlite3_int64 rows = 0;
    int rc = table_totals(api, fts, &rows, &statistics->mean_length);
    for (int phrase = 0; rc == SQLITE_OK && phrase < phrases; phrase++) {
        sqlite3_int64 hits = 0;
        rc = api->xQueryPhrase(fts, phrase, &hits, count_row);
        statistics->idf[phrase] = inverse_document_frequency(rows, hits);
    }
    if (rc == SQLITE_OK) rc = api->xSetAuxdata(fts, statistics, free_statistics);
    else free_statistics(statistics);
    if (rc == SQLITE_OK) *result = statistics;
    return rc;
}

/// The current row's length in tokens (all columns), from the cache when it has it.
static int row_length(const Fts5ExtensionApi *api, Fts5Context *fts, ConnectionCache *cache, int *length) {
    sqlite3_int64 rowid = api->xRowid(fts);
    int cacheable = cached_rowid(rowid);
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
static void revalidate(ConnectionCache *cache, sqlite3_int64 text_version) {
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
    ConnectionCache *cache = api->xUserData(fts);
    int first_row = api->xGetAuxdata(fts, 0) == NULL;
    QueryStatistics *statistics = NULL;
    int rc = query_statistics(api, fts, &statistics);
    if (rc == SQLITE_OK && first_row) revalidate(cache, sqlite3_value_int64(arguments[0]));
    // What follows the version are the column weights, as bm25() takes them.
    sqlite3_value **weights = arguments + 1;
    int weight_count = argument_count - 1;

    // Term frequency per phrase, each occurrence weighted by its column's weight.
    for (int phrase = 0; rc == SQLITE_OK && phrase < statistics->phrase_count; phrase++) {
        rc = phrase_frequency(api, fts, phrase, weights, weight_count, &statistics->frequency[phrase]);
    }
    int length = 0;
    if (rc == SQLITE_OK) rc = row_length(api, fts, cache, &length);
    if (rc != SQLITE_OK) {
        sqlite3_result_error_code(context, rc);
        return;
    }
    double score = 0;
    double normaliser = length_normaliser(length, statistics->mean_length);
    for (int phrase = 0; phrase < statistics->phrase_count; phrase++) {
        double frequency = statistics->frequency[phrase];
        score += term_score(statistics->idf[phrase], frequency, normaliser);
    }
    sqlite3_result_double(context, score);
}

// ---- rag_bm25_top: the best rows of an OR query, scored phrase by phrase ----

/// Rowid → score for rowids outside the range the per-connection arrays cover (negative, or
/// from max_cached_rowid up): open addressing with linear probing. The knowledge store's rowids
/// count up from 1, so this only serves tables it did not fill.
typedef struct {
    sqlite3_int64 *rowids;
    double *scores;
    unsigned char *used;
    size_t capacity; // a power of two
    size_t count;
} ScoreTable;

static void free_table(ScoreTable *table) {
    free(table->rowids);
    free(table->scores);
    free(table->used);
}

static size_t slot_of(sqlite3_int64 rowid, size_t capacity) {
    // Fibonacci hashing: consecutive rowids land far apart.
    return (size_t)(((uint64_t)rowid * 0x9E3779B97F4A7C15ull) >> 20) & (capacity - 1);
}

static int table_resize(ScoreTable *table, size_t capacity) {
    ScoreTable grown = {calloc(capacity, sizeof(sqlite3_int64)), calloc(capacity, sizeof(double)),
                        calloc(capacity, 1), capacity, table->count};
    if (!grown.rowids || !grown.scores || !grown.used) {
        free_table(&grown);
        return SQLITE_NOMEM;
    }
    for (size_t old = 0; old < table->capacity; old++) {
        if (!table->used[old]) continue;
        size_t slot = slot_of(table->rowids[old], capacity);
        while (grown.used[slot]) slot = (slot + 1) & (capacity - 1);
        grown.used[slot] = 1;
        grown.rowids[slot] = table->rowids[old];
        grown.scores[slot] = table->scores[old];
    }
    free_table(table);
    *table = grown;
    return SQLITE_OK;
}

/// Adds `score` to the row's total, starting from 0.0 as bm25() does, so that each row's terms are
/// summed in the same order (phrase order) and the totals are bit for bit the same.
static int table_add(ScoreTable *table, sqlite3_int64 rowid, double score) {
    if ((table->count + 1) * 2 > table->capacity) {
        int rc = table_resize(table, table->capacity ? table->capacity * 2 : 1024);
        if (rc != SQLITE_OK) return rc;
    }
    size_t slot = slot_of(rowid, table->capacity);
    while (table->used[slot] && table->rowids[slot] != rowid) slot = (slot + 1) & (table->capacity - 1);
    if (!table->used[slot]) {
        table->used[slot] = 1;
        table->rowids[slot] = rowid;
        table->scores[slot] = 0.0;
        table->count++;
    }
    table->scores[slot] += score;
    return SQLITE_OK;
}

/// Starts a query's sums: the rows the last query wrote (whether or not it finished) count as
/// unwritten again.
static void sums_begin(RowScores *sums) {
    for (size_t index = 0; index < sums->touched_count; index++) sums->written[sums->touched[index]] = 0;
    sums->touched_count = 0;
}

/// Grows the arrays to cover `rowid` (below max_cached_rowid), doubling.
static int sums_reserve(RowScores *sums, sqlite3_int64 rowid) {
    if (rowid < sums->capacity) return SQLITE_OK;
    int64_t capacity = sums->capacity ? sums->capacity : 1024;
    while (capacity <= rowid) capacity *= 2;
    // Either array may have grown when the other fails: capacity stays what both hold.
    double *scores = realloc(sums->scores, (size_t)capacity * sizeof(double));
    if (scores) sums->scores = scores;
    unsigned char *written = scores ? realloc(sums->written, (size_t)capacity) : NULL;
    if (!written) return SQLITE_NOMEM;
    sums->written = written;
    memset(written + sums->capacity, 0, (size_t)(capacity - sums->capacity));
    sums->capacity = capacity;
    return SQLITE_OK;
}

/// Adds `score` to the row's total, which starts from 0.0 (see table_add): in the arrays for
/// rowids they cover, in `spill` for the others.
static int sums_add(RowScores *sums, ScoreTable *spill, sqlite3_int64 rowid, double score) {
    if (!cached_rowid(rowid)) return table_add(spill, rowid, score);
    int rc = sums_reserve(sums, rowid);
    if (rc != SQLITE_OK) return rc;
    if (!sums->written[rowid]) {
        if (sums->touched_count == sums->touched_capacity) {
            size_t capacity = sums->touched_capacity ? sums->touched_capacity * 2 : 1024;
            sqlite3_int64 *grown = realloc(sums->touched, capacity * sizeof *grown);
            if (!grown) return SQLITE_NOMEM;
            sums->touched = grown;
            sums->touched_capacity = capacity;
        }
        sums->touched[sums->touched_count++] = rowid;
        sums->written[rowid] = 1;
        sums->scores[rowid] = 0.0;
    }
    sums->scores[rowid] += score;
    return SQLITE_OK;
}

/// One matched row of one phrase: its weighted term frequency and its length in tokens.
typedef struct PhraseHit {
    sqlite3_int64 rowid;
    double frequency;
    int length;
} PhraseHit;

/// What the xQueryPhrase callback fills in for one phrase; its hits buffer is the connection's.
typedef struct {
    ConnectionCache *cache;
    sqlite3_value **weights;
    int weight_count;
    size_t count;
} PhraseScan;

static int collect_hit(const Fts5ExtensionApi *api, Fts5Context *fts, void *pointer) {
    PhraseScan *scan = pointer;
    ConnectionCache *cache = scan->cache;
    if (scan->count == cache->hit_capacity) {
        size_t capacity = cache->hit_capacity ? cache->hit_capacity * 2 : 256;
        PhraseHit *grown = realloc(cache->hits, capacity * sizeof *grown);
        if (!grown) return SQLITE_NOMEM;
        cache->hits = grown;
        cache->hit_capacity = capacity;
    }
    // The callback's context is a query of this phrase alone: it is phrase 0 there.
    double frequency = 0;
    int rc = phrase_frequency(api, fts, 0, scan->weights, scan->weight_count, &frequency);
    int length = 0;
    if (rc == SQLITE_OK) rc = row_length(api, fts, cache, &length);
    if (rc != SQLITE_OK) return rc;
    cache->hits[scan->count++] = (PhraseHit){api->xRowid(fts), frequency, length};
    return SQLITE_OK;
}

typedef struct {
    sqlite3_int64 rowid;
    double score;
} ScoredRow;

/// Whether `a` ranks below `b`: a lower score, or the same score and a larger rowid. A total
/// order, so the best rows do not depend on the order they are offered in.
static int ranks_below(ScoredRow a, ScoredRow b) {
    return a.score < b.score || (a.score == b.score && a.rowid > b.rowid);
}

/// Keeps the best `limit` rows in a heap whose root is the worst of them.
static void heap_offer(ScoredRow *heap, int *size, int limit, ScoredRow row) {
    int at;
    if (*size < limit) {
        at = (*size)++;
        while (at > 0 && ranks_below(row, heap[(at - 1) / 2])) {
            heap[at] = heap[(at - 1) / 2];
            at = (at - 1) / 2;
        }
        heap[at] = row;
        return;
    }
    if (!ranks_below(heap[0], row)) return;
    at = 0;
    for (;;) {
        int child = 2 * at + 1;
        if (child >= *size) break;
        if (child + 1 < *size && ranks_below(heap[child + 1], heap[child])) child++;
        if (!ranks_below(heap[child], row)) break;
        heap[at] = heap[child];
        at = child;
    }
    heap[at] = row;
}

static int best_first(const void *a, const void *b) {
    ScoredRow x = *(const ScoredRow *)a, y = *(const ScoredRow *)b;
    return ranks_below(y, x) ? -1 : ranks_below(x, y) ? 1 : 0;
}

/// Scores every row of every phrase into the connection's sums and `spill` (see rag_bm25_top).
static int score_phrases(const Fts5ExtensionApi *api, Fts5Context *fts, ConnectionCache *cache, sqlite3_value **weights,
                         int weight_count, ScoreTable *spill) {
    sqlite3_int64 rows = 0;
    double mean = 1;
    int rc = table_totals(api, fts, &rows, &mean);
    PhraseScan scan = {cache, weights, weight_count, 0};
    int phrases = api->xPhraseCount(fts);
    for (int phrase = 0; rc == SQLITE_OK && phrase < phrases; phrase++) {
        scan.count = 0;
        rc = api->xQueryPhrase(fts, phrase, &scan, collect_hit);
        if (rc != SQLITE_OK) break;
        double idf = inverse_document_frequency(rows, (sqlite3_int64)scan.count);
        for (size_t hit = 0; rc == SQLITE_OK && hit < scan.count; hit++) {
            PhraseHit row = cache->hits[hit];
            rc = sums_add(&cache->sums, spill, row.rowid, term_score(idf, row.frequency, length_normaliser(row.length, mean)));
        }
    }
    return rc;
}

static void rag_bm25_top(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_context *context,
                         int argument_count, sqlite3_value **arguments) {
    if (argument_count < 2) {
        sqlite3_result_error(context, "rag_bm25_top needs the text version and the row limit after the table", -1);
        return;
    }
    // Everything is done on the query's first row; its caller asks for no more.
    ConnectionCache *cache = api->xUserData(fts);
    revalidate(cache, sqlite3_value_int64(arguments[0]));
    sqlite3_int64 wanted = sqlite3_value_int64(arguments[1]);
    int limit = wanted <= 0 ? 0 : wanted > 100000 ? 100000 : (int)wanted;

    RowScores *sums = &cache->sums;
    sums_begin(sums);
    ScoreTable spill = {0};
    int rc = score_phrases(api, fts, cache, arguments + 2, argument_count - 2, &spill);
    ScoredRow *best = rc == SQLITE_OK ? malloc((size_t)(limit > 0 ? limit : 1) * sizeof *best) : NULL;
    if (rc == SQLITE_OK && !best) rc = SQLITE_NOMEM;
    if (rc != SQLITE_OK) {
        free_table(&spill);
        sqlite3_result_error_code(context, rc);
        return;
    }
    int size = 0;
    for (size_t index = 0; limit > 0 && index < sums->touched_count; index++) {
        sqlite3_int64 rowid = sums->touched[index];
        heap_offer(best, &size, limit, (ScoredRow){rowid, sums->scores[rowid]});
    }
    for (size_t slot = 0; limit > 0 && slot < spill.capacity; slot++) {
        if (spill.used[slot]) heap_offer(best, &size, limit, (ScoredRow){spill.rowids[slot], spill.scores[slot]});
    }
    free_table(&spill);
    qsort(best, (size_t)size, sizeof *best, best_first);
    sqlite3_result_blob(context, best, size * (int)sizeof *best, free);
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

    ConnectionCache *cache = calloc(1, sizeof *cache);
    if (!cache) return SQLITE_NOMEM;
    // Once registered, the cache belongs to FTS5, which calls free_cache when the connection
    // closes; a failed registration leaves it with us.
    rc = api->xCreateFunction(api, "rag_bm25", cache, rag_bm25, free_cache);
    if (rc != SQLITE_OK) {
        free_cache(cache);
        return rc;
    }
    // Both functions share the cache; FTS5 frees it once, with rag_bm25.
    return api->xCreateFunction(api, "rag_bm25_top", cache, rag_bm25_top, NULL);
}
