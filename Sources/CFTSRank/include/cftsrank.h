#ifndef CFTSRANK_H
#define CFTSRANK_H
#include <sqlite3.h>

/// Registers the FTS5 auxiliary function `rag_bm25` on `db` and returns an SQLite result code.
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
int CFTSRank_register(sqlite3 *db);

#endif
