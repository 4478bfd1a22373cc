// Stand-in for DevTools' `core/i18n/i18n.js`. The heap snapshot worker only
// uses `i18n.serializeUIString` to format progress messages, which the oracle
// never shows; this is the same serialization the real module performs,
// without pulling DevTools' locale machinery into the bundle.
export const i18n = {
  serializeUIString(string: string, values: Record<string, unknown> = {}): string {
    return JSON.stringify({string, values});
  },
};
