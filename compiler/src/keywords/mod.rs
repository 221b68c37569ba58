//! One file per keyword or keyword family (front end, issue 3).
