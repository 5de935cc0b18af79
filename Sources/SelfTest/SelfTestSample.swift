/// The small knowledge base the self-test ingests: a few pages about a made-up service, each with
/// one question only it answers well.
enum SelfTestSample {
    struct Document {
        let name: String
        let text: String
        /// A question whose best passage comes from this document.
        let question: String
    }

    /// The sample's technology label, which the self-test's searches filter on so that a knowledge
    /// base already in the data folder cannot outrank the sample.
    static let technology = "mcp-rag-selftest"

    static let documents: [Document] = [
        Document(name: "install.md", text: """
            # Installing Harbor

            ## Linux

            Harbor ships as one static binary. Download it, make it executable with `chmod +x harbor`,
            and move it to a folder on your PATH such as /usr/local/bin.

            ## macOS

            On macOS, install Harbor with Homebrew: `brew install harbor`. Apple silicon and Intel are both supported.
            """, question: "how do I install harbor with homebrew on a mac"),
        Document(name: "retries.md", text: """
            # Retries and circuit breakers

            Harbor retries a failed upstream call three times with exponential backoff and jitter, starting at
            one second. After five consecutive failures the circuit breaker opens and calls fail fast for sixty
            seconds, after which one trial call decides whether it closes again.
            """, question: "what happens after five consecutive failures"),
        Document(name: "tuning.md", text: """
            # Tuning the connection pool

            The connection pool holds 16 connections by default. Raise `pool.size` when many clients query at
            once; lower `pool.idle_timeout` (default 90 s) to release idle sockets sooner on small machines.
            """, question: "increase the number of pooled connections"),
        Document(name: "errors.rst", text: """
            Error codes
            ===========

            HB-4031 means the access token expired: request a new token with ``harbor login``.

            HB-5002 means the storage volume is full: free space or attach a larger volume.
            """, question: "HB-5002"),
    ]
}
