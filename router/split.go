package router

// splitScale is the resolution of split percentages: basis points, so a
// share may have two decimals (33.33).
const splitScale = 10000

// splitBucket maps a payment to [0, splitScale), deterministically: the
// same payment_id under the same rule always lands in the same bucket, on
// every instance and after restarts, so a redelivered or replayed payment
// takes the same branch. The rule ID salts the hash so two splits do not
// send the same payments to their first branches.
//
// The hash is FNV-1a over salt, a separator and id, finished with the
// splitmix64 mixer: FNV alone has weak low bits for short, similar ids
// ("pay_1", "pay_2"), which the modulo would expose. It does not allocate.
func splitBucket(salt, id string) uint32 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	for i := 0; i < len(salt); i++ {
		h ^= uint64(salt[i])
		h *= prime
	}
	h ^= 0xff // no byte of a valid id or salt: "a"+"bc" differs from "ab"+"c"
	h *= prime
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= prime
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return uint32(h % splitScale)
}
