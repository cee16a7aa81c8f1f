"""Grid functions: the plugin API (:mod:`.spec`), their discovery (:mod:`.registry`) and the
built-in functions (:mod:`.builtin`). Engines: pure computation on documents and messages."""
