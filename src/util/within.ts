// A promise raced against a timer: past `ms` the result rejects with late()'s error; the promise
// runs on, unheard (Promise.race handles its later rejection). The timer never outlives the race.
export function within<T>(promise: Promise<T>, ms: number, late: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(late()), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
