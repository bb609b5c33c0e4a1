/* global document */
/**
 * Screen-reader announcements of what changed while the user looks elsewhere (a new bid, being
 * outbid, a message): one polite `aria-live` region, fed short sentences. Lists and logs on the
 * page are re-rendered whole, so they stay silent themselves and this says what is new.
 */

const MAX_KEPT = 5;

export function announce(text) {
  const region = document.getElementById('announcer');
  if (!region || !text) return;
  // A new node per sentence: the same sentence twice in a row is still read twice.
  const line = document.createElement('p');
  line.textContent = text;
  region.append(line);
  while (region.childElementCount > MAX_KEPT) region.firstElementChild?.remove();
}
