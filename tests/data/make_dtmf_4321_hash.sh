#!/bin/sh
# Makes dtmf_4321_hash.ul: the in-band DTMF tones for "4321#" as raw 8-bit
# mu-law at 8 kHz (no header), for SIPp's <exec rtp_stream="...,1,0"/>
# (sipp-scenarios/pin_inband_dtmf.xml).  Each digit is a 100 ms dual tone,
# each of its two sines at -10 dBFS (amplitude 0.3162, peak of the sum
# -4 dBFS), followed by 100 ms of silence: 1 s, 8000 bytes in all.
# Synthesised at 8 kHz (-r 8000 before -n: no resampling) and without
# dither (-D), so the gaps are digital silence.
# Standard DTMF pairs: 4 = 770+1209, 3 = 697+1477, 2 = 697+1336,
# 1 = 697+1209, # = 941+1477 Hz.  Needs sox (Debian package sox).
# Run from anywhere: ./tests/data/make_dtmf_4321_hash.sh
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
for digit in "770 1209" "697 1477" "697 1336" "697 1209" "941 1477"; do
  set -- $digit
  n=$((n + 1))
  sox -D -r 8000 -c 2 -n -r 8000 -c 1 -t ul "$tmp/$n.ul" \
    synth 0.1 sine "$1" sine "$2" remix -m 1v0.3162,2v0.3162 pad 0 0.1
done
cat "$tmp"/1.ul "$tmp"/2.ul "$tmp"/3.ul "$tmp"/4.ul "$tmp"/5.ul > dtmf_4321_hash.ul
