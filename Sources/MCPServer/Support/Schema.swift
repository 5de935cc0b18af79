import MCP

/// Small builders for the JSON Schemas in tool definitions, so each tool reads as its fields.
enum Schema {
    static func object(_ properties: [String: Value], required: [String] = [], additional: Bool = false) -> Value {
        var schema: [String: Value] = ["type": "object", "properties": .object(properties)]
        if !required.isEmpty { schema["required"] = .array(required.map { .string($0) }) }
        if !additional { schema["additionalProperties"] = false }
        return .object(schema)
    }

    static func string(_ description: String, maxLength: Int? = nil, minLength: Int? = nil, enumeration: [String]? = nil,
                       defaultValue: String? = nil) -> Value {
        var schema: [String: Value] = ["type": "string", "description": .string(description)]
        if let maxLength { schema["maxLength"] = .int(maxLength) }
        if let minLength { schema["minLength"] = .int(minLength) }
        if let enumeration { schema["enum"] = .array(enumeration.map { .string($0) }) }
        if let defaultValue { schema["default"] = .string(defaultValue) }
        return .object(schema)
    }

    static func integer(_ description: String, range: ClosedRange<Int>? = nil, defaultValue: Int? = nil) -> Value {
        var schema: [String: Value] = ["type": "integer", "description": .string(description)]
        if let range {
            schema["minimum"] = .int(range.lowerBound)
            schema["maximum"] = .int(range.upperBound)
        }
        if let defaultValue { schema["default"] = .int(defaultValue) }
        return .object(schema)
    }

    static func number(_ description: String) -> Value {
        ["type": "number", "description": .string(description)]
    }

    static func boolean(_ description: String, defaultValue: Bool? = nil) -> Value {
        var schema: [String: Value] = ["type": "boolean", "description": .string(description)]
        if let defaultValue { schema["default"] = .bool(defaultValue) }
        return .object(schema)
    }

    static func array(_ items: Value, _ description: String, maxItems: Int? = nil, minItems: Int? = nil) -> Value {
        var schema: [String: Value] = ["type": "array", "items": items, "description": .string(description)]
        if let maxItems { schema["maxItems"] = .int(maxItems) }
        if let minItems { schema["minItems"] = .int(minItems) }
        return .object(schema)
    }

    /// An object whose values all follow `schema` (maps keyed by name).
    static func map(_ schema: Value, _ description: String) -> Value {
        ["type": "object", "additionalProperties": schema, "description": .string(description)]
    }
}
