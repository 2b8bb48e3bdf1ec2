/**
 * Bundled in place of `whatwg-url` (serverless.yml, esbuild `alias`).
 *
 * tencentcloud-sdk-nodejs sends requests with node-fetch 2, which loads `whatwg-url` (and its 265 KB `tr46`
 * table) at start, yet uses it only where Node has no URL class: `Url.URL || whatwgUrl.URL`. Node always has
 * one, so the bundles get Node's own classes. That saves ~35 ms of cold start, and the DEP0040 warning Node 22
 * prints when `tr46` requires Node's `punycode` (tencentcloud-sdk-nodejs issue #277).
 */
export const URL = globalThis.URL;
export const URLSearchParams = globalThis.URLSearchParams;
