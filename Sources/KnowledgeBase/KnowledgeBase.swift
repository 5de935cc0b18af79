// The knowledge base: configuration, ingestion, queries. (Filled in by the following commits.)
