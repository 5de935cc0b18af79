import ArgumentParser
import Foundation
import KnowledgeBase

/// `mcp-rag reembed`: every passage embedded again with the configured model.
struct ReembedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reembed",
        abstract: "Embed every passage again with the configured model (after changing MCP_RAG_MODEL or the model folder).",
        discussion: """
            The new vectors are kept apart until every passage has one, then swapped in at once: until then every \
            process keeps searching the old ones. Stopped half-way (Ctrl-C, a crash, kill -9), the same command \
            resumes where it stopped. Afterwards the knowledge base records the new model; servers still running the \
            old one answer by keywords until restarted with the new one. With Chroma, the next start sends the \
            passages to the new model's collection.
            """
    )

    @OptionGroup var options: KnowledgeBaseOptions

    @Flag(help: "Print the report as JSON.")
    var json = false

    func run() async throws {
        let line = ProgressLine()
        let report: ReembedReport
        do {
            report = try await options.withKnowledgeBase(logger: options.logger()) { knowledgeBase in
                try await knowledgeBase.reembed { step in
                    line.show("\(Self.bar(step)) \(step.embedded)/\(step.total) passages re-embedded")
                }
            }
        } catch let error as ClientError {
            line.finish()
            throw CLIError(error.message)
        } catch {
            line.finish()
            throw error
        }
        line.finish()
        if json {
            try printJSON(report)
            return
        }
        guard !report.alreadyDone else {
            print("The knowledge base is already embedded by \(report.model) (fingerprint \(report.modelFingerprint)); nothing to do.")
            return
        }
        let resumed = report.resumed > 0 ? " (\(report.resumed) of them by an earlier run that stopped)" : ""
        print("Re-embedded \(report.passages) passages\(resumed) with \(report.model) (fingerprint \(report.modelFingerprint), "
            + "\(report.dimension) dimensions) in \(String(format: "%.1f", report.seconds)) s.")
        if report.longerThanWindow > 0 {
            print("\(report.longerThanWindow) passages are longer than the model's window of \(report.window) tokens: their "
                + "ends are not in their vectors. Ingest their files again to cut them to fit.")
        }
    }

    private static func bar(_ step: ReembedProgress) -> String {
        let width = 30
        let filled = step.total > 0 ? width * min(step.embedded, step.total) / step.total : 0
        return String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
    }
}
