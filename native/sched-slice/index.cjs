'use strict';
// The compiled addon; loading throws when it was not built (no compiler at install: it is optional).
module.exports = require('./build/Release/sched_slice.node');
