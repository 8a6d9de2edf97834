//! Output constraints translated for servers that need another form: regular expressions and
//! choice lists as llama.cpp GBNF grammars (`gbnf`); and the client-side check that an answer
//! matches its regex (`regex_check`).

pub mod gbnf;
pub mod regex_check;
