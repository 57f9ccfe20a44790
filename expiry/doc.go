// Package expiry holds the time side of the store: the clock, TTL
// arithmetic, the layout of the ordered expiry index, and the loop that
// runs the background sweeper.
//
// Times are int64 Unix nanoseconds throughout, with 0 meaning "never". An
// entry stored at t with a TTL of d expires at t+d: from that instant on it
// is a miss, and the sweeper may delete it.
package expiry
