/** Escaping for text and attribute values placed in HTML or SVG markup. */

const ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;'
};

/**
 * Escape `&`, `<`, `>`, `"` and `'` so a value is safe as text or as a
 * quoted attribute value.
 *
 * @param {string} value Any text
 * @returns {string} The escaped text
 */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}
