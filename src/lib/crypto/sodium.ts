import sodium from 'libsodium-wrappers';

let ready = false;

/** Loads libsodium. Await once at start-up (and in tests) before calling seal() or open(). */
export async function initCrypto(): Promise<void> {
  if (ready) return;
  await sodium.ready;
  ready = true;
}

/** @internal libsodium, once initCrypto() has completed. */
export function readySodium(): typeof sodium {
  if (!ready) throw new Error('initCrypto() must be awaited once at start-up before sealing or opening secrets');
  return sodium;
}
