// Copy buttons. The page marks each with data-copy="<id of what to copy>" and keeps it hidden, so
// without this script the value is simply text to select; with it the button shows, copies, and
// says so in its status region (role="status", read out by screen readers).
'use strict';

(function () {
  function textOf(target) {
    if (target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement) return target.value;
    return target.innerText.trim();
  }

  function select(target) {
    target.focus();
    if (target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement) {
      target.select();
      return;
    }
    const range = document.createRange();
    range.selectNodeContents(target);
    const selection = window.getSelection();
    if (selection) {
      selection.removeAllRanges();
      selection.addRange(range);
    }
  }

  let clearing;
  function say(status, words) {
    if (!status) return;
    // Emptied first, so saying the same words twice is announced twice.
    status.textContent = '';
    window.clearTimeout(clearing);
    window.setTimeout(function () {
      status.textContent = words;
      clearing = window.setTimeout(function () {
        status.textContent = '';
      }, 5000);
    }, 50);
  }

  async function copy(button) {
    const id = button.getAttribute('data-copy');
    const target = document.getElementById(id);
    if (!target) return;
    const status = document.querySelector('[data-copy-status="' + CSS.escape(id) + '"]');
    const text = textOf(target);
    try {
      if (!navigator.clipboard) throw new Error('no clipboard');
      await navigator.clipboard.writeText(text);
      say(status, 'Copied');
    } catch {
      // No clipboard access (plain http, or refused): select the text for Ctrl+C instead.
      select(target);
      say(status, 'Selected: press Ctrl+C (⌘C on a Mac) to copy');
    }
  }

  for (const button of document.querySelectorAll('button[data-copy]')) {
    button.addEventListener('click', function () {
      copy(button);
    });
    button.hidden = false;
  }
})();
