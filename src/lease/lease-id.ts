// Lease id choice for LeaseGrant with ID 0: the server picks a random positive int63 that no lease
// uses. Pure: the randomness is injected so that the choice can be replayed in tests.

const INT63_MASK = (1n << 63n) - 1n;
/** Collisions among int63 ids are vanishingly rare; a source that keeps colliding is broken. */
export const leaseIdPickAttemptsMax = 64;

/** `random` returns uniform numbers in [0, 1), like Math.random. */
export function pickLeaseId(random: () => number, exists: (id: bigint) => boolean): bigint {
  for (let attempt = 0; attempt < leaseIdPickAttemptsMax; attempt++) {
    // Two draws of 32 bits each: a single double carries only 53 random bits.
    const high = BigInt(Math.floor(random() * 0x1_0000_0000));
    const low = BigInt(Math.floor(random() * 0x1_0000_0000));
    const id = ((high << 32n) | low) & INT63_MASK;
    if (id !== 0n && !exists(id)) return id;
  }
  throw new Error(`pickLeaseId: no free id after ${leaseIdPickAttemptsMax} attempts; the random source is broken`);
}
