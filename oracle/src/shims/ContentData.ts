// Stand-in for DevTools' `core/text_utils/ContentData.js`, imported by
// TextUtils.ts for helpers the heap snapshot loader never calls (it needs
// only BalancedJSONTokenizer); the real module pulls in DevTools' `common`.
export class ContentData {
  constructor() {
    throw new Error('ContentData is not available in the heap snapshot oracle');
  }
}
