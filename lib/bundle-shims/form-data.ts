/**
 * Bundled in place of `form-data` (serverless.yml, esbuild `alias`).
 *
 * tencentcloud-sdk-nodejs loads `form-data` (and the 137 KB `mime-db`) at start for multipart uploads. The
 * only action we call, LKE's GetTaskStatus, is a JSON POST, never multipart, so the bundles carry this stand-in,
 * which says so loudly if a future call ever needs multipart.
 */
export default class FormData {
  constructor() {
    throw new Error(
      'form-data is not bundled (lib/bundle-shims/form-data.ts): a multipart Tencent Cloud request needs the real package; remove its alias in serverless.yml',
    );
  }
}
