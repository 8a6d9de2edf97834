//! What an answer means: a `RawAnswer` decoded into the `chat-response` record (`answer`),
//! streamed chunks assembled into events and the same record (`assembler`), tool calls
//! decoded (`tool_calls`) or recovered from text (`text_tools`), reasoning split out of
//! `<think>` (`reasoning`), and JSON answers checked (`json_output`).

pub mod answer;
pub mod assembler;
pub mod json_output;
pub mod reasoning;
pub mod resume;
pub mod text_tools;
pub mod tool_calls;
pub mod tool_text_hold;
