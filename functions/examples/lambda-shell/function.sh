# The handler of the lambda-shell example: prints the event it was given,
# wrapped in a JSON object, and a line of log on stderr.
function handler () {
  EVENT_DATA=$1
  echo "handling an event of ${#EVENT_DATA} bytes" 1>&2
  RESPONSE="{\"echo\": $EVENT_DATA, \"runtime\": \"bash\"}"
  echo "$RESPONSE"
}
