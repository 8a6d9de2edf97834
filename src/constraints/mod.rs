//! Output constraints translated for servers that need another form: regular expressions and
//! choice lists as llama.cpp GBNF grammars (`gbnf`).

pub mod gbnf;
