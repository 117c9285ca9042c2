// bcrypt password hashes. Hashing runs on the member that proposes the change (the hash goes in the
// log: bcrypt salts are random, apply must not be) and checking on the member that receives the
// Authenticate; both are slow on purpose, so they use bcryptjs's asynchronous, loop-yielding form.
import bcrypt from 'bcryptjs';

export const bcryptCostMin = 4;
export const bcryptCostMax = 31;

export async function hashPassword(password: string, cost: number): Promise<string> {
  if (!Number.isInteger(cost) || cost < bcryptCostMin || cost > bcryptCostMax) throw new Error(`bcrypt cost ${cost} out of range`);
  return bcrypt.hash(password, cost);
}

export async function checkPassword(password: string, hash: string): Promise<boolean> {
  try {
    return await bcrypt.compare(password, hash);
  } catch {
    return false;
  }
}

/** A hash a client sent (AuthUserAddRequest.hashedPassword, etcd 3.5): accepted only if bcrypt-shaped. */
export function isBcryptHash(text: string): boolean {
  return /^\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}$/.test(text);
}
