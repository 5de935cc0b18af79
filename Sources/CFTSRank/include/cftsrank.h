#ifndef CFTSRANK_H
#define CFTSRANK_H
#include <sqlite3.h>

/// Registers the FTS5 auxiliary functions `rag_bm25` and `rag_bm25_top` on `db` and returns an SQLite result code.
///
/// `rag_bm25(table, text_version, weight0, weight1, ...)` returns exactly what
/// `-bm25(table, weight0, weight1, ...)` returns (the same Okapi BM25, k1 = 1.2, b = 0.75, made
/// positive: higher is better), several times faster on queries that match many rows: the built-in
/// function reads each matched row's length from the %_docsize table, one B-tree lookup per row,
/// while this one keeps the lengths it has read in memory, for the connection's lifetime.
///
/// `text_version` is an integer that must change whenever the indexed text changes (the knowledge
/// store's triggers count every change in `meta`): the lengths are dropped when it does. Read it in
/// the same statement as the search, so that both see the same snapshot.
///
/// `rag_bm25_top(table, text_version, limit, weight0, weight1, ...)`, for queries that are an OR of
/// phrases (as the knowledge store builds them), computes the same scores for the whole query on
/// its first row and returns the best `limit` rows as a blob of (int64 rowid, double score) pairs
/// in native byte order, best first, ties by smaller rowid; run it with `LIMIT 1`. It walks each
/// phrase's rows once (xQueryPhrase) instead of letting FTS5 merge the phrases and visiting
/// every phrase of every matched row, which is several times faster when many rows match. Its
/// sums are kept by rowid in arrays the connection keeps between queries (up to 17 bytes a row).
/// Also registered here, sharing the row lengths.
int CFTSRank_register(sqlite3 *db);

#endif
