/* global document */
/** The few DOM helpers every part of the page uses. */

export const $ = (id) => document.getElementById(id);

/**
 * Builds an element: `class`, `dataset`, `on…` listeners, other keys as attributes; children
 * are nodes or text (text is never parsed as markup).
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : value);
  }
  node.append(...children.filter((c) => c !== undefined && c !== null && c !== false));
  return node;
}

export function showError(id, message) {
  $(id).textContent = message ?? '';
}

export function messageOf(err) {
  return err instanceof Error ? err.message : String(err);
}

/** "3" in a badge, read as "3 unread" (the spaces keep it apart from the name beside it). */
export function unreadBadge(count) {
  return el('span', { class: 'count' }, ` ${count}`, el('span', { class: 'visually-hidden' }, ' unread '));
}
