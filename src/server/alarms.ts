// Alarms (NOSPACE, CORRUPT) are replicated state: raised and cleared only through the Raft log,
// persisted under prefix.alarm in the apply batch. While NOSPACE is active, writes that could grow
// the database are refused with etcd's "database space exceeded"; CORRUPT refuses reads and writes.
import type { Backend, BatchOp } from '../storage/backend.js';
import { prefix, prefixEnd } from '../storage/keys.js';
import { AlarmAction, AlarmType, type AlarmMember } from './server-api.js';

function alarmKey(memberId: bigint, alarm: number): Buffer {
  const key = Buffer.alloc(prefix.alarm.length + 9);
  prefix.alarm.copy(key, 0);
  key.writeBigUInt64BE(memberId, prefix.alarm.length);
  key[prefix.alarm.length + 8] = alarm;
  return key;
}

export class AlarmStore {
  private readonly active = new Map<string, AlarmMember>();

  static async load(backend: Backend): Promise<AlarmStore> {
    const store = new AlarmStore();
    for (const [key] of await backend.readAll(prefix.alarm, prefixEnd(prefix.alarm))) {
      const memberId = key.readBigUInt64BE(prefix.alarm.length);
      const alarm = key[prefix.alarm.length + 8];
      store.active.set(`${memberId}/${alarm}`, { memberId, alarm });
    }
    return store;
  }

  list(alarm?: number): AlarmMember[] {
    const all = [...this.active.values()];
    return alarm === undefined || alarm === AlarmType.NONE ? all : all.filter((a) => a.alarm === alarm);
  }

  has(alarm: number): boolean {
    for (const a of this.active.values()) if (a.alarm === alarm) return true;
    return false;
  }

  /** Apply-side. Returns the alarms the response reports, as etcd does. */
  apply(action: number, memberId: bigint, alarm: number, batch: BatchOp[]): AlarmMember[] {
    const id = `${memberId}/${alarm}`;
    if (action === AlarmAction.GET) return this.list(alarm);
    if (action === AlarmAction.ACTIVATE) {
      if (alarm === AlarmType.NONE) return [];
      if (!this.active.has(id)) {
        this.active.set(id, { memberId, alarm });
        batch.push({ type: 'put', key: alarmKey(memberId, alarm), value: Buffer.alloc(0) });
      }
      return [{ memberId, alarm }];
    }
    if (action === AlarmAction.DEACTIVATE) {
      const existing = this.active.get(id);
      if (!existing) return [];
      this.active.delete(id);
      batch.push({ type: 'del', key: alarmKey(memberId, alarm) });
      return [existing];
    }
    return [];
  }
}
