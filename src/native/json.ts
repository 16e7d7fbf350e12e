// Types of the addon's JSON binding (native/json/). Only src/native/index.ts loads the addon;
// sluice serve's request-body parsing is the caller.

export interface JsonBinding {
  /**
   * [sync] Parses UTF-8 JSON text like JSON.parse(new TextDecoder().decode(bytes)), except that every
   * non-empty array whose elements are all numbers or null becomes a Float64Array (null -> NaN).
   * Arrays of such arrays stay JS arrays (of Float64Arrays). The Float64Arrays of one call are views
   * of one ArrayBuffer (one allocation instead of one per array): read them through the view
   * (indexing, .set, .slice), not through .buffer. As TextDecoder does, a leading BOM is
   * dropped and invalid UTF-8 inside a string reads as U+FFFD. Nesting counts arrays and objects;
   * maxDepth may be Infinity. Any depth is safe: the parser does not recurse.
   * @throw SyntaxError with code SLUICE_JSON_INVALID when bytes are not JSON or nest deeper than
   * maxDepth; its message gives the byte offset and what was expected there.
   * @throw TypeError (SLUICE_RUNTIME) unless bytes is a Uint8Array and maxDepth an integer >= 0.
   */
  parseJsonNumeric(bytes: Uint8Array, maxDepth: number): unknown;
}
