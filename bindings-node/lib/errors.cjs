"use strict";
// The one error class of the `tokenkeep` package, shared by the native addon
// (Node) and the wasm build (edge runtimes): `code` is a stable snake_case code
// from tests/vectors/codes.json, `message` is safe to log (never a token, key
// or secret).

class TokenkeepError extends Error {
  constructor(code, message, options) {
    super(message, options);
    this.name = "TokenkeepError";
    this.code = code;
  }
}

// `instanceof` fails across realms and duplicated module copies (a bundle
// holding the package twice); the name and a string code do not.
function isTokenkeepError(value) {
  return (
    value instanceof TokenkeepError ||
    (value !== null &&
      typeof value === "object" &&
      value.name === "TokenkeepError" &&
      typeof value.code === "string")
  );
}

module.exports = { TokenkeepError, isTokenkeepError };
