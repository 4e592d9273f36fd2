import { sveltekit } from '@sveltejs/kit/vite';
import tailwindcss from '@tailwindcss/vite';
import { defineConfig } from 'vite';

export default defineConfig({
  plugins: [tailwindcss(), sveltekit()],
  build: { sourcemap: false, reportCompressedSize: false },
  server: { proxy: { '/api': { target: 'http://127.0.0.1:9000', ws: true } } }
});
