// The MCP tools over the official Swift SDK. (Filled in by the following commits.)
import MCP
