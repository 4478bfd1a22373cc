// Stand-in for DevTools' `core/text_utils/text_utils.js` barrel: the snapshot
// loader only uses TextUtils.BalancedJSONTokenizer (the real one, from
// TextUtils.ts), not the editor/markdown modules the barrel re-exports.
import * as TextUtils from 'devtools:front_end/core/text_utils/TextUtils.js';

export {TextUtils};
