//! deprecated vars: $(VAR) references (owner: generators).
