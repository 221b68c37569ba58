//! (front end: owned by the rule front-end work, issue 3)
