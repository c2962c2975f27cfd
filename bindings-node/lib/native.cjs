'use strict'
// The native addon, loaded once per realm (each worker thread has its own).
module.exports = require('../native/binding.cjs')
