// Empty arrays made ready for objects.
//
// V8 gives a `[]` the element kind of small integers; the first object stored in it changes the
// array's hidden class. Code V8 optimized on arrays that already held objects (those of older
// connections and calls) then meets a new one's array in the other class, and is thrown away and
// compiled again: seen with V8's --trace-deopt ("wrong map", "not a Smi") at the first response of
// every new watch stream and the first write of every new connection, and each recompile is a few
// milliseconds of a helper thread competing for the cores with the event loop.

/** An empty array whose element kind already takes any value (element kinds never narrow). */
export function emptyObjectArray<T>(): T[] {
  const array: unknown[] = [undefined];
  array.length = 0;
  return array as T[];
}
