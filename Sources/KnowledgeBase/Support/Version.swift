/// The version mcp-rag reports in `--version`, `initialize` and `health_check`.
public enum MCPRagVersion {
    public static let current = "0.2.0"
}
