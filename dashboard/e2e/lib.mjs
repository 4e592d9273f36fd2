// Helpers of the browser test: TOTP codes (RFC 6238, as the server checks them), axe-core
// runs, and the message catalogs for the language checks.
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

function base32(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of s.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const out = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) out.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(out);
}

/** The 6-digit code of `secret` (base32) for the 30 s step `offset` steps from now. */
export function totp(secret, offset = 0) {
  const step = Math.floor(Date.now() / 1000 / 30) + offset;
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(step));
  const h = createHmac('sha1', base32(secret)).update(msg).digest();
  const o = h[h.length - 1] & 0xf;
  const n = ((h[o] & 0x7f) << 24) | (h[o + 1] << 16) | (h[o + 2] << 8) | h[o + 3];
  return String(n % 1_000_000).padStart(6, '0');
}

const axeSource = readFileSync(join(here, '..', 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');

/** Serious and critical accessibility violations on the page (WCAG 2.x A and AA). axe is
 *  evaluated through the debugging protocol, which the page's CSP does not govern. */
export async function axe(page) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  return result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

export function catalog(locale) {
  return JSON.parse(readFileSync(join(here, '..', 'src', 'lib', 'i18n', `${locale}.json`), 'utf8'));
}

/** Text on the page a person reads: text nodes, labels, placeholders, titles. */
export async function visibleTexts(page) {
  return page.evaluate(() => {
    const out = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const t = n.textContent.trim();
      // What is rendered: not a closed dialog's list, not a hidden element.
      const el = n.parentElement;
      if (t && el && el.checkVisibility() && !el.closest('script,style,pre,code')) out.push(t);
    }
    for (const el of document.querySelectorAll('[aria-label],[placeholder],[title]')) {
      if (!el.checkVisibility()) continue;
      for (const a of ['aria-label', 'placeholder', 'title']) {
        const v = el.getAttribute(a);
        if (v) out.push(v.trim());
      }
    }
    out.push(document.title);
    return out;
  });
}
