// memlab depends on puppeteer, but the oracle only reads heap snapshots: never
// download a browser (and the network reaches only package registries).
module.exports = { skipDownload: true, chrome: { skipDownload: true }, firefox: { skipDownload: true } };
