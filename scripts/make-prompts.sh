#!/usr/bin/env bash
# Regenerates the shipped voice prompts (dialplans/prompts/*.wav, 16 kHz mono
# 16-bit) with espeak-ng and sox. The WAVs are committed, so this only runs
# when a prompt's text changes: `scripts/make-prompts.sh`.
set -euo pipefail
cd "$(dirname "$0")/../dialplans/prompts"
voice=${VOICE:-en-us}
say() { # NAME TEXT
  espeak-ng -v "$voice" -s 150 -w "/tmp/prompt-$1.wav" "$2"
  sox "/tmp/prompt-$1.wav" -r 16000 -c 1 -b 16 "$1.wav" norm -3
  rm -f "/tmp/prompt-$1.wav"
}
say welcome "Welcome."
say enter_meeting_id "Please enter your meeting ID, then press pound."
say enter_pin "Please enter the meeting PIN, then press pound."
say bad_meeting_id "That meeting ID is not valid."
say bad_pin "That PIN is not correct."
say goodbye "Goodbye."
say muted "You are muted."
say unmuted "You are unmuted."
say locked "The meeting is now locked."
say unlocked "The meeting is now unlocked."
say all_muted "Everyone else is now muted."
say room_locked "This meeting is locked. Goodbye."
say room_full "This meeting is full. Goodbye."
say recorded "This meeting is being recorded."
say not_moderator "Only a moderator can do that."
say menu "Press star six to mute or unmute yourself. Press star one to hear how many people are in the meeting. Press pound to hear this menu again."
ordinals=(zero first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth)
numbers=(zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty)
for n in $(seq 1 20); do
  say "position_$n" "You are the ${ordinals[$n]} participant."
done
say position_many "There are already many participants in this meeting."
say count_1 "You are the only participant."
for n in $(seq 2 20); do
  say "count_$n" "There are ${numbers[$n]} participants in this meeting."
done
say count_many "There are more than twenty participants in this meeting."
