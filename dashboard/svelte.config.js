import adapter from '@sveltejs/adapter-static';
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

/** A single-page app: every route is rendered in the browser from `index.html`, which
 *  sh0 serves for any path that is not an API route (src/server/dashboard.rs). */
export default {
  preprocess: vitePreprocess(),
  kit: {
    adapter: adapter({ pages: 'build', assets: 'build', fallback: 'index.html', precompress: false, strict: true }),
    // Absolute asset paths: the same index.html answers /apps/web/logs and /.
    paths: { relative: false },
    // Asset names carry a content hash; the version file would change on every build and
    // make the committed build look stale.
    version: { name: 'sh0', pollInterval: 0 },
    output: { bundleStrategy: 'split' }
  }
};
